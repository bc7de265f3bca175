"""Email: the templates of every email the service sends (``templates``: plain values in, subject and
body out, no I/O) and sending them through SES (``send``)."""
