"""What an operator runs against a deployment's Kafka, outside the product processes: the
principals and their ACLs, credentials and TLS files (``kafka_security``), topic creation
and ACL grants as the admin (``kafka_admin``). The compose deployment's jobs use it through
``proactax broker acls`` and ``proactax broker tls``; the development launcher
(devtools/broker) uses the same code. No product process imports it.
"""
