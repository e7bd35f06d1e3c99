"""``taoyuan`` sub-commands, one module per feature (see bot.cli.COMMAND_MODULES)."""
