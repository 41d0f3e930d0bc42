"""Delivery: publish events into the queue, and the dispatcher that signs, sends and records them."""
