"""Customer feedback: which completed requests get a satisfaction survey, its signed link, the
answer however it comes (the survey page, the chat widget, a reply that is only a digit), and
what a score does to the customer's care lists."""
