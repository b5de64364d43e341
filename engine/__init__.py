"""Hearth engine: templates, stacks, resources, scheduler, store, credentials, compute drivers."""
