"""A Bot API emulator: enough of Telegram for the product's bot, the demo and the tests.

``state.Emulator`` holds users, chats, updates and the limits; ``app.create_app`` serves
the Bot API (``/bot<token>/<method>``), a control API (``/control/...``) and a small web
page where a person can act as a taxpayer in the emulated chat.
"""
