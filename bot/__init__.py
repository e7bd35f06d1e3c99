"""桃源姐妹 WeChat Official Account backend: app, config, webhook, WeChat client, CLI, console."""
