#!/usr/bin/env python3
"""Gives a moto server an IAM user with S3 rights and an access key, then turns signature
checking on. Prints 'ACCESS_KEY_ID SECRET_ACCESS_KEY'. Usage: moto-auth-setup.py ENDPOINT"""
import json
import sys
import urllib.request

import boto3

endpoint = sys.argv[1]
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="setup", aws_secret_access_key="setup")
iam.create_user(UserName="rrstore-test")
iam.put_user_policy(UserName="rrstore-test", PolicyName="s3", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}))
key = iam.create_access_key(UserName="rrstore-test")["AccessKey"]
request = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST",
                                 headers={"Content-Type": "text/plain"})
urllib.request.urlopen(request).read()
print(key["AccessKeyId"], key["SecretAccessKey"])
