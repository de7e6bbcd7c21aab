"""Puts a bucket CORS configuration on moto's S3 server with boto3, as a user would on AWS.

Run: python s3_put.py PORT BUCKET CORS.json
  Creates BUCKET, puts CORS.json (what `crossgate export --to s3` writes: the bucket CORS JSON,
  {"CORSRules": [...]} as `aws s3api put-bucket-cors` reads it, or the bare rule array the S3
  console takes) with put_bucket_cors, a bucket policy that lets anyone read and write its
  objects, and one object, api/data (200 JSON); api/error does not exist, so it answers 404.

  Why the bucket policy, not a public-read object: `crossgate check --policy` sends PUTs, which
  moto takes from anyone, leaving a private object behind; and moto asks for a permission on
  preflights (`s3:OptionsObject`, an action S3 does not have) once the object is private. `s3:*`
  on the objects covers both; the CORS rules alone decide what the browser may do.
"""

import json
import sys

import boto3

port, bucket, cors_file = sys.argv[1:4]
s3 = boto3.client(
    "s3",
    endpoint_url=f"http://127.0.0.1:{port}",
    region_name="us-east-1",
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
)
with open(cors_file, encoding="utf-8") as f:
    cors = json.load(f)
if isinstance(cors, list):
    cors = {"CORSRules": cors}
s3.create_bucket(Bucket=bucket)
s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=cors)
public_read = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": f"arn:aws:s3:::{bucket}/*",
        }
    ],
}
s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(public_read))
s3.put_object(
    Bucket=bucket,
    Key="api/data",
    Body=b'{"data": [1, 2, 3]}',
    ContentType="application/json",
)
print(json.dumps(s3.get_bucket_cors(Bucket=bucket)["CORSRules"]))
