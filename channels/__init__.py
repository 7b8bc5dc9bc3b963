"""frontdesk.channels"""
