"""frontdesk.router"""
