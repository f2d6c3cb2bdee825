"""Text resources of the notifier: ``lines.<lang>.yaml`` hold return line labels and the
words the return explanation uses, one file per language (read by ``notifier.labels``)."""
