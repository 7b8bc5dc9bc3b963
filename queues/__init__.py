"""frontdesk.queues"""
