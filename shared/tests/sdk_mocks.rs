//! The SDK adapters' error classification against exact EC2 (XML) and Scheduler (JSON) error
//! bodies, through the real SDK clients and deserializers: a tiny HTTP responder on 127.0.0.1
//! answers each request with the next canned response.
//!
//! (A loopback stub rather than aws-smithy-mocks: the mocks need the SDK crates' `test-util`
//! features, which would make every test build compile the AWS SDK a second time.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use ebs_gens::aws::client::Ec2;
use ebs_gens::aws::pacer::Pacer;
use ebs_gens::aws::sdk::{SdkEc2, SdkScheduler};
use ebs_gens::aws::{AwsError, Deleted, Ec2Api, ErrorKind, SchedulerApi};
use ebs_gens::{Error, ErrorName};

/// One canned HTTP response: status, extra headers, body.
type Canned = (u16, Vec<(&'static str, String)>, String);

/// Serves `responses` in order (the last one repeats), one per request; returns the endpoint.
fn stub(responses: Vec<Canned>) -> String {
    stub_recording(responses).0
}

/// [`stub`], also returning the bodies of the requests it received (as sent by the SDK).
fn stub_recording(responses: Vec<Canned>) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let queue = Arc::new(Mutex::new(responses));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            // Read the request head, then its body (Content-Length).
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            record
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&body).into_owned());
            let (status, headers, body) = {
                let mut q = queue.lock().unwrap();
                if q.len() > 1 {
                    q.remove(0)
                } else {
                    q[0].clone()
                }
            };
            let mut head = format!(
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            let _ = conn.write_all(format!("{head}\r\n{body}").as_bytes());
        }
    });
    (url, seen)
}

async fn config(url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
            "testing", "testing", None, None, "stub",
        ))
        // One attempt: the classification is under test, not the SDK's retries.
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}

fn ec2_error(status: u16, code: &str, message: &str) -> Canned {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>"
    );
    (status, vec![("content-type", "text/xml".into())], xml)
}

async fn delete_with(status: u16, code: &str, message: &str) -> AwsError {
    let url = stub(vec![ec2_error(status, code, message)]);
    SdkEc2::new(&config(&url).await)
        .delete_snapshot("snap-0123456789abcdef0")
        .await
        .unwrap_err()
}

#[tokio::test]
async fn in_use_by_an_ami() {
    let e = delete_with(
        400,
        "InvalidSnapshot.InUse",
        "The snapshot snap-0123456789abcdef0 is currently in use by ami-0abcdef1234567890",
    )
    .await;
    assert_eq!(
        (e.kind, e.code.as_str()),
        (ErrorKind::InUse, "InvalidSnapshot.InUse")
    );
    assert!(e.message.contains("ami-0abcdef1234567890"));
}

#[tokio::test]
async fn managed_by_aws_backup() {
    let e = delete_with(
        400,
        "InvalidParameterValue",
        "This snapshot is managed by the AWS Backup service and cannot be deleted via EC2 APIs. If you wish to delete this snapshot, please do so via the Backup console.",
    )
    .await;
    assert_eq!(e.kind, ErrorKind::BackupManaged);
}

#[tokio::test]
async fn throttling_5xx_and_access_denied_map_to_stable_names() {
    let e = delete_with(503, "RequestLimitExceeded", "Request limit exceeded.").await;
    assert_eq!(e.kind, ErrorKind::Throttled);
    assert_eq!(Error::from(e).name(), ErrorName::Transient);
    let e = delete_with(500, "InternalError", "An internal error has occurred").await;
    assert_eq!(Error::from(e).name(), ErrorName::Transient);
    let e = delete_with(
        403,
        "UnauthorizedOperation",
        "You are not authorized to perform this operation.",
    )
    .await;
    assert_eq!(e.kind, ErrorKind::AccessDenied);
    assert_eq!(Error::from(e).name(), ErrorName::AccessDenied);
}

#[tokio::test]
async fn not_found_means_already_deleted() {
    let ok = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteSnapshotResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>x</requestId><return>true</return></DeleteSnapshotResponse>";
    let url = stub(vec![
        ec2_error(
            400,
            "InvalidSnapshot.NotFound",
            "The snapshot 'snap-0123456789abcdef0' does not exist.",
        ),
        (200, vec![("content-type", "text/xml".into())], ok.into()),
    ]);
    let ec2 = Ec2::new(SdkEc2::new(&config(&url).await), Pacer::unlimited());
    assert_eq!(
        ec2.delete("snap-0123456789abcdef0").await.unwrap(),
        Deleted::AlreadyGone
    );
    assert_eq!(
        ec2.delete("snap-0123456789abcdef0").await.unwrap(),
        Deleted::Deleted
    );
}

/// Every snapshot listing asks EC2 for this account's snapshots only (`OwnerIds=self`): a
/// snapshot another account shares with us never reaches the planner, whatever its tags.
#[tokio::test]
async fn snapshot_listings_ask_for_our_own_snapshots_only() {
    let empty = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeSnapshotsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>x</requestId><snapshotSet/></DescribeSnapshotsResponse>";
    let (url, seen) = stub_recording(vec![(
        200,
        vec![("content-type", "text/xml".into())],
        empty.into(),
    )]);
    let ec2 = Ec2::new(SdkEc2::new(&config(&url).await), Pacer::unlimited());
    ec2.snapshots_of(&["vol-1".to_string()]).await.unwrap();
    ec2.snapshots_managed_by("prod").await.unwrap();
    assert_eq!(ec2.snapshot("snap-0123456789abcdef0").await.unwrap(), None);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    for body in seen.iter() {
        assert!(body.contains("Action=DescribeSnapshots"), "{body}");
        assert!(
            body.contains("Owner.1=self"),
            "not restricted to our own: {body}"
        );
    }
}

/// Scheduler (a JSON-protocol service) errors as it sends them.
#[tokio::test]
async fn scheduler_errors_are_classified() {
    for (status, kind, want) in [
        (404, "ResourceNotFoundException", ErrorKind::NotFound),
        (409, "ConflictException", ErrorKind::Conflict),
        (403, "AccessDeniedException", ErrorKind::AccessDenied),
        (400, "ValidationException", ErrorKind::Invalid),
        (429, "ThrottlingException", ErrorKind::Throttled),
    ] {
        let url = stub(vec![(
            status,
            vec![
                ("content-type", "application/json".into()),
                ("x-amzn-errortype", kind.into()),
            ],
            format!("{{\"__type\":\"{kind}\",\"Message\":\"from the stub\"}}"),
        )]);
        let e = SdkScheduler::new(&config(&url).await)
            .delete_schedule("ebs-gens-prod", "vol-1.daily.0123456789ab")
            .await
            .unwrap_err();
        assert_eq!(e.kind, want, "{kind}: {e}");
    }
}
