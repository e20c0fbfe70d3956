#!/usr/bin/env python3
"""The anchor for the storage benchmark, on the same sizes and counts as StorageBench:
'file DIR' writes each blob as rrstore's file store does (temp file, fsync, link, fsync dir)
with plain os calls and reads it back; 's3 ENDPOINT BUCKET' puts and gets with boto3."""
import hashlib
import json
import os
import sys
import time

SIZES = [(4 << 10, 400), (100 << 10, 200), (5 << 20, 12)]


def blobs(size, count):
    out = []
    for i in range(count):
        data = os.urandom(size)
        out.append(("assets/sha256/" + hashlib.sha256(data).hexdigest(), data))
    return out


def file_store(root):
    for size, count in SIZES:
        items = blobs(size, count)
        start = time.perf_counter()
        for key, data in items:
            path = os.path.join(root, key)
            directory = os.path.dirname(path)
            os.makedirs(directory, exist_ok=True)
            assert hashlib.sha256(data).hexdigest() == key.rsplit("/", 1)[1]
            tmp = os.path.join(directory, ".tmp-%d" % os.getpid())
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, path)
            os.unlink(tmp)
            fd = os.open(directory, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        put = time.perf_counter() - start
        start = time.perf_counter()
        for key, data in items:
            with open(os.path.join(root, key), "rb") as f:
                assert len(f.read()) == size
        get = time.perf_counter() - start
        for key, _ in items:
            os.unlink(os.path.join(root, key))
        print(json.dumps({"size": size, "count": count, "put_seconds": put, "get_seconds": get}))


def s3_store(endpoint, bucket):
    import boto3
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="bench", aws_secret_access_key="bench")
    s3.create_bucket(Bucket=bucket)
    for size, count in SIZES:
        items = blobs(size, count)
        start = time.perf_counter()
        for key, data in items:
            s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/octet-stream")
        put = time.perf_counter() - start
        start = time.perf_counter()
        for key, _ in items:
            assert len(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) == size
        get = time.perf_counter() - start
        for key, _ in items:
            s3.delete_object(Bucket=bucket, Key=key)
        print(json.dumps({"size": size, "count": count, "put_seconds": put, "get_seconds": get}))


if __name__ == "__main__":
    if sys.argv[1] == "file":
        file_store(sys.argv[2])
    else:
        s3_store(sys.argv[2], sys.argv[3])
