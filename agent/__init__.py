"""hearth-agent: fetch a server's deployments, run them through hooks, deliver the signals durably."""
