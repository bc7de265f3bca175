"""avocette-payments: the shared layer of the Lambda functions."""

# The Powertools service name. Loggers name it explicitly, so that the layer's child loggers attach
# to each function's logger whatever was imported first; template.yaml sets the same name.
SERVICE_NAME = "avocette-payments"
