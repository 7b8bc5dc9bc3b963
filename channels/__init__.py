"""frontdesk.channels: the ways a customer reaches the desk (mail, chat, social, phone
callbacks, web forms), each turning what arrives into an `Inbound` for the front door it is given
through `ChannelContext` (channels/base.py), and nothing more: a channel never imports the front
door, the API or the daemon."""
