"""The engine package (templates, stacks, resources, scheduler, store, credentials, compute
drivers); importing it runs nothing and touches nothing."""
