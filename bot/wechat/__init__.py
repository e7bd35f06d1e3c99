"""WeChat: protocol, updates, replies, API client, de-duplication, menu. Imports only bot.core."""
