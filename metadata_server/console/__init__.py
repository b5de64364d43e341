"""The web console at /console/ (docs/console.md): server-rendered pages over `engine.service`
for people with an API token; `views.blueprint` is registered by create_app when the
orchestration API is served and the `console` setting is on."""
