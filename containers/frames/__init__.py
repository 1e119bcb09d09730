"""The AWS Batch frame worker (see worker.py): one array child per chunk of the frame manifest."""
