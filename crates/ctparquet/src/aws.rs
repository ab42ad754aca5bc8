//! AWS configuration as every AWS tool reads it, for S3 as for SQS.
//!
//! The AWS SDK's `aws-config` resolves the standard chain (environment, `AWS_PROFILE` or
//! `--profile` in the shared config and credentials files, IAM Identity Center (SSO),
//! `credential_process`, web identity, ECS container and EC2 instance credentials) and the
//! region (environment, then the profile). object_store signs S3 requests with whatever
//! [`CredentialProvider`] it is given: [`SdkCredentials`] bridges the two, so S3, SQS and
//! Firehose clients see the same identity, and nothing here parses a config file by hand.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use object_store::CredentialProvider;
use object_store::aws::AwsCredential;

/// Loads the SDK configuration of `profile` (or `AWS_PROFILE`, or the default profile).
pub async fn sdk_config(profile: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    loader.load().await
}

/// What the message says was tried when no credentials are found.
pub const CHAIN_TRIED: &str = "environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), \
    the profile in ~/.aws/config and ~/.aws/credentials (AWS_PROFILE or --profile: keys, SSO, \
    credential_process, role_arn), web identity (AWS_WEB_IDENTITY_TOKEN_FILE), ECS container \
    credentials and EC2 instance metadata";

/// Credentials are fetched again this long before they expire.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// The SDK's credential chain as object_store's credential provider. The chain itself does not
/// cache (the SDK's clients cache in front of it), and object_store asks for a credential on
/// every request: a `credential_process` would run per request. So the last credential is kept
/// until shortly before it expires.
#[derive(Debug)]
pub struct SdkCredentials {
    provider: SharedCredentialsProvider,
    /// The profile asked for, for messages.
    profile: Option<String>,
    cached: tokio::sync::Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
}

impl SdkCredentials {
    /// The credential provider of an SDK configuration loaded for `profile` (`None`: the
    /// default choice), or `None` when it has none.
    pub fn from_config(
        config: &aws_config::SdkConfig,
        profile: Option<&str>,
    ) -> Option<SdkCredentials> {
        let profile = profile
            .map(str::to_string)
            .or_else(|| std::env::var("AWS_PROFILE").ok());
        Some(SdkCredentials {
            provider: config.credentials_provider()?,
            profile,
            cached: tokio::sync::Mutex::new(None),
        })
    }

    /// Resolves a credential now (at start, so that a missing login fails before any work, with
    /// one message saying what was looked at).
    pub async fn check(&self) -> Result<(), String> {
        self.fetch().await.map(|_| ()).map_err(|e| {
            let profile = match &self.profile {
                Some(p) => format!(" for profile `{p}`"),
                None => String::new(),
            };
            let detail = e.split_whitespace().collect::<Vec<_>>().join(" ");
            format!(
                "no AWS credentials found{profile}: tried {CHAIN_TRIED} ({detail}). Sign in (e.g. `aws sso login --profile NAME`) or choose a profile with AWS_PROFILE or --profile"
            )
        })
    }

    async fn fetch(&self) -> Result<Arc<AwsCredential>, String> {
        let mut cached = self.cached.lock().await;
        if let Some((credential, expiry)) = cached.as_ref() {
            let fresh = expiry.is_none_or(|at| {
                at.duration_since(SystemTime::now())
                    .is_ok_and(|left| left > REFRESH_BEFORE_EXPIRY)
            });
            if fresh {
                return Ok(credential.clone());
            }
        }
        let credentials = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| error_chain(&e))?;
        let credential = Arc::new(AwsCredential {
            key_id: credentials.access_key_id().to_string(),
            secret_key: credentials.secret_access_key().to_string(),
            token: credentials.session_token().map(str::to_string),
        });
        *cached = Some((credential.clone(), credentials.expiry()));
        Ok(credential)
    }
}

/// An error and its sources on one line (the SDK's top-level messages say little alone).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

#[async_trait::async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        self.fetch()
            .await
            .map_err(|message| object_store::Error::Generic {
                store: "S3",
                source: format!("AWS credentials: {message}").into(),
            })
    }
}
