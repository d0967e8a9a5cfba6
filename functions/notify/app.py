"""NotifyFunction: a placeholder until the delivery handler lands.

It does the least a delivery must: publish each new message item of the stream to the
alert topic and mark it sent, and report the items it could not handle. Events of other
kinds (a failed check, an alarm's state change) are logged and acknowledged.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import boto3


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "Records" not in event:
        print(json.dumps({"level": "INFO", "message": "event received", "keys": sorted(event)}))
        return {"status": "received"}
    sns = boto3.client("sns")
    dynamodb = boto3.client("dynamodb")
    failures = []
    for record in event["Records"]:
        image = record["dynamodb"]["NewImage"]
        try:
            message = json.loads(image["message"]["S"])
            response = sns.publish(
                TopicArn=os.environ["ALERT_TOPIC_ARN"],
                Subject=message["subject"],
                Message=json.dumps({"default": message["email"], "email": message["email"], "sms": message["sms"]}),
                MessageStructure="json",
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": str(message[name])}
                    for name in ("severity", "provider", "monitor", "kind")
                    if message.get(name)
                },
            )
            dynamodb.update_item(
                TableName=os.environ["TABLE_NAME"],
                Key=record["dynamodb"]["Keys"],
                UpdateExpression="SET sent_at = :now, message_id = :id",
                ConditionExpression="attribute_not_exists(sent_at)",
                ExpressionAttributeValues={":now": {"N": str(int(time.time()))}, ":id": {"S": response["MessageId"]}},
            )
        except Exception as exc:  # reported per item, as ReportBatchItemFailures expects
            print(json.dumps({"level": "ERROR", "message": "delivery failed", "error": repr(exc)}))
            failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
    return {"batchItemFailures": failures}
