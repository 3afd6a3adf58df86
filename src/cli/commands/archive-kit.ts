// What archive-push and archive-get share.
export const ARCHIVE_HELP = `  --archive URL   file:///abs/dir, /abs/dir or s3://bucket/prefix[?endpoint=..&region=..&forcePathStyle=true]
                  (S3 credentials from the AWS chain: AWS_* variables or ~/.aws of the server's OS user)`;
