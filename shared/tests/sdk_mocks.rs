//! The SDK adapter's error classification against exact EC2 error bodies, through the real
//! deserializer (aws-smithy-mocks replaces only the HTTP exchange).

use aws_sdk_ec2::operation::delete_snapshot::DeleteSnapshotOutput;
use aws_sdk_ec2::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use ebs_gens::aws::client::Ec2;
use ebs_gens::aws::pacer::Pacer;
use ebs_gens::aws::sdk::SdkEc2;
use ebs_gens::aws::{Deleted, Ec2Api, ErrorKind};
use ebs_gens::{Error, ErrorName};

fn ec2_error(status: u16, code: &str, message: &str) -> Response<SdkBody> {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>"
    );
    Response::new(StatusCode::try_from(status).unwrap(), SdkBody::from(xml))
}

async fn delete_with(
    status: u16,
    code: &'static str,
    message: &'static str,
) -> ebs_gens::aws::AwsError {
    let rule =
        mock!(Client::delete_snapshot).then_http_response(move || ec2_error(status, code, message));
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&rule]);
    SdkEc2::from_client(client)
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
    let rule = mock!(Client::delete_snapshot).then_http_response(|| {
        ec2_error(
            400,
            "InvalidSnapshot.NotFound",
            "The snapshot 'snap-0123456789abcdef0' does not exist.",
        )
    });
    let ok = mock!(Client::delete_snapshot).then_output(|| DeleteSnapshotOutput::builder().build());
    let client = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&rule, &ok]);
    let ec2 = Ec2::new(SdkEc2::from_client(client), Pacer::unlimited());
    assert_eq!(
        ec2.delete("snap-0123456789abcdef0").await.unwrap(),
        Deleted::AlreadyGone
    );
    assert_eq!(
        ec2.delete("snap-0123456789abcdef0").await.unwrap(),
        Deleted::Deleted
    );
}

/// Scheduler (a JSON-protocol service) errors as it sends them, through the real deserializer.
mod scheduler {
    use aws_sdk_scheduler::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use ebs_gens::aws::sdk::SdkScheduler;
    use ebs_gens::aws::{ErrorKind, SchedulerApi};

    fn json_error(status: u16, kind: &str, message: &str) -> Response<SdkBody> {
        let mut r = Response::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::from(format!(
                "{{\"__type\":\"{kind}\",\"Message\":\"{message}\"}}"
            )),
        );
        r.headers_mut().insert("x-amzn-errortype", kind.to_string());
        r.headers_mut()
            .insert("content-type", "application/json".to_string());
        r
    }

    async fn delete_with(status: u16, kind: &'static str) -> ebs_gens::aws::AwsError {
        let rule = mock!(Client::delete_schedule)
            .then_http_response(move || json_error(status, kind, "from the mock"));
        let client = mock_client!(aws_sdk_scheduler, RuleMode::MatchAny, [&rule]);
        SdkScheduler::from_client(client)
            .delete_schedule("ebs-gens-prod", "vol-1.daily.0123456789ab")
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn scheduler_errors_are_classified() {
        let e = delete_with(404, "ResourceNotFoundException").await;
        assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
        let e = delete_with(409, "ConflictException").await;
        assert_eq!(e.kind, ErrorKind::Conflict, "{e}");
        let e = delete_with(403, "AccessDeniedException").await;
        assert_eq!(e.kind, ErrorKind::AccessDenied, "{e}");
        let e = delete_with(400, "ValidationException").await;
        assert_eq!(e.kind, ErrorKind::Invalid, "{e}");
    }
}
