"""Plugin modules used by tests through `gateway.plugin_modules`, loaded by the same loader as
entry-point plugins: one with a buggy adapter, and several broken in the ways real ones break."""
