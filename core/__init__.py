"""The small core every other package builds on: the settings (read once, frozen), the
clock port and the Kafka client options. It imports nothing else of ours (import-linter,
``make lint``).
"""
