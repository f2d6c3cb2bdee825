"""The words of a return, shared by the bot, the portal and the CLI: ``lines.<lang>.yaml``
hold return line labels and the words the return explanation and legal references use,
one file per language (read by ``contracts.line_labels``)."""
