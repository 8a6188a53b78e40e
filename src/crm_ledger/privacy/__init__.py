"""Personal data: sealed per data subject before it is stored, erased by destroying keys."""
