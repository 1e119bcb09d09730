STACK_NAME = "VideoFlow"
