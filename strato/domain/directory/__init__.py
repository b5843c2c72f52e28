"""The services directory: which components and services run where, and their health."""
