"""Jobs: the durable store, the state machine, the scheduler and the event bus."""
