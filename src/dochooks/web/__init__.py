"""What the two web faces share: the JSON:API at /v1 (`api/`) and the HTML pages (`ui/`)
both take the runtime, rate limits, upload slots, body limits and input rules from here.
Neither face imports the other; `dochooks.app` composes them."""
