"""Teams incoming webhook: the URL is the secret; a 2xx answer means it was posted."""

from quotawatch.core.channels import teams_payload
from quotawatch.delivery.senders.http import ChatWebhook

FORMAT = ChatWebhook(teams_payload)
