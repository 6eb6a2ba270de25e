"""``soar serve``: the Auth0 log-stream endpoint, detections over the stream, incidents and their responses."""
