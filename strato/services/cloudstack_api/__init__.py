"""The CloudStack-compatible API (``STRATO_SERVICES=acl,cloudstack_api``): CloudStack's
``/client/api`` answered by translating each command onto Strato's command layer, so
CloudStack's tools (cs, CloudMonkey, Apache Libcloud, Ansible, Terraform) work
unchanged. See docs/cloudstack-api.md."""
