"""queue_collector: the queue-aware OTLP receiver service."""
