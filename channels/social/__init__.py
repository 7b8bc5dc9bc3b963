"""frontdesk.channels.social: The social channels (WhatsApp and Messenger by Meta, Telegram,
WeChat, a generic signed webhook): verified webhooks turned into requests."""
