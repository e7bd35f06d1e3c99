"""WeChat at the edge: protocol, updates, replies, the API client and the notifier."""
