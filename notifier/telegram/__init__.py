"""Telegram: the PTB bot (``bot.py``), its receive paths (polling, webhook ► Kafka ► bot
workers) and the Bot API emulator the demo and the tests talk to (``emulator/``)."""
