//! Each format, found and not found. Credential-shaped literals are built at run time so this
//! file holds none whole.

use super::*;

fn kinds(text: &str) -> Vec<(Kind, String)> {
    find(text.as_bytes()).iter().map(|f| (f.kind, text[f.start..f.end].to_owned())).collect()
}

fn one(text: &str, kind: Kind, secret: &str) {
    assert_eq!(kinds(text), [(kind, secret.to_owned())], "in {text:?}");
}

#[test]
fn aws_access_key_ids_and_secret_keys() {
    let id = format!("AKIA{}", "Q3RZ7T2MXW4PLK9B");
    one(&format!("export AWS_ID {id} done"), Kind::AwsAccessKeyId, &id);
    let session = format!("ASIA{}", "Q3RZ7T2MXW4PLK9B");
    one(&format!("({session})"), Kind::AwsAccessKeyId, &session);
    let secret = format!("{}{}", "wJalrXUtnFEMI/K7MDENG/", "bPxRfiCYzQ9Bv8Rk2M");
    one(&format!("aws_secret_access_key = \"{secret}\""), Kind::AwsSecretKey, &secret);
    one(&format!("AWS_SECRET_ACCESS_KEY={secret}\n"), Kind::AwsSecretKey, &secret);
    // Too short, too long, inside a word, or not 40 characters after the key.
    assert!(kinds("AKIA12345 and AKIAQ3RZ7T2MXW4PLK9BX").is_empty());
    assert!(kinds(&format!("XAKIA{}", "Q3RZ7T2MXW4PLK9B")).is_empty());
    assert!(kinds("aws_secret_access_key = \"short-Zr8Kq2\"").is_empty());
}

#[test]
fn github_and_gitlab_tokens() {
    for prefix in ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"] {
        let token = format!("{prefix}{}", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A");
        one(&format!("token is {token}."), Kind::GithubToken, &token);
    }
    let pat = format!("github_pat_{}", "11ABCDEFG0123456789_abcdefghijklmnopqrstuv");
    one(&format!("GITHUB_PAT {pat}"), Kind::GithubToken, &pat);
    let gitlab = format!("glpat-{}", "xR4t-Zq8Lm2Vb7Nc9Kd1");
    one(&format!("'{gitlab}'"), Kind::GitlabToken, &gitlab);
    assert!(kinds("ghp_short ghx_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A glpat-short").is_empty());
    assert!(kinds(&format!("xghp_{}", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A")).is_empty());
}

#[test]
fn chat_payment_and_cloud_api_keys() {
    let slack = format!("xoxb-{}", "1234567890-0987654321-AbCdEfGhIjKl");
    one(&format!("SLACK {slack}"), Kind::SlackToken, &slack);
    let stripe = format!("sk_live_{}", "4eC39HqLyjWDarjtT1zdp7dc");
    one(&format!("key {stripe}"), Kind::StripeKey, &stripe);
    let restricted = format!("rk_live_{}", "4eC39HqLyjWDarjtT1zdp7dc");
    one(&restricted, Kind::StripeKey, &restricted);
    let google = format!("AIza{}", "SyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW");
    one(&format!("?key={google}"), Kind::GoogleApiKey, &google);
    let anthropic = format!("sk-ant-{}", "api03-Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1x");
    one(&format!("\"{anthropic}\""), Kind::AnthropicKey, &anthropic);
    let openai = format!("sk-proj-{}", "Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5");
    one(&format!("using {openai}"), Kind::OpenaiKey, &openai);
    assert!(kinds("xoxq-1234567890-abc xoxb-short sk_test_4eC39HqLyjWDarjtT1zdp7dc").is_empty());
    assert!(kinds("AIzaShort the-task-runner-configuration-for-the-sk-module-and-more").is_empty());
    assert!(kinds("sk-ant-short ask-ant-1234567890abcdefghijklmnop").is_empty());
}

#[test]
fn private_key_blocks_whole_with_or_without_their_end() {
    let block = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n{}\n-----END RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB",
        "aFDrBz9vFqU4yYhB7fBDdZ9Uq4Kk8vq2Yw=="
    );
    one(&format!("key:\n{block}\nafter"), Kind::PrivateKey, &block);
    // Inside JSON, with escaped newlines.
    let escaped = block.replace('\n', "\\n");
    one(&format!("{{\"k\":\"{escaped}\"}}"), Kind::PrivateKey, &escaped);
    // Cut short: masked to the end of its body.
    let cut = &block[..80];
    one(cut, Kind::PrivateKey, cut);
    assert!(
        kinds("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n-----END PUBLIC KEY-----")
            .is_empty()
    );
    assert!(kinds("-----BEGIN CERTIFICATE-----").is_empty());
}

#[test]
fn jwts() {
    let jwt = format!("eyJhbGciOiJIUzI1NiJ9.{}.{}", "eyJzdWIiOiIxMjM0NTY3ODkwIn0", "dozjgNryP4J3jVmNHl0w5N");
    one(&format!("Authorization: Bearer {jwt}"), Kind::Jwt, &jwt);
    assert!(kinds("eyJhbGciOiJIUzI1NiJ9.notapayload.sig eyJshort.eyJshort.x").is_empty());
}

#[test]
fn passwords_in_urls_and_only_the_password() {
    one("postgres://app:s3cr3t-Pa55@db.internal:5432/app", Kind::UrlPassword, "s3cr3t-Pa55");
    one("DATABASE_URL=\"mysql://root:hunter2@127.0.0.1/x\"", Kind::UrlPassword, "hunter2");
    one("https://:tok3n@hooks.example.net/a", Kind::UrlPassword, "tok3n");
    assert!(kinds("https://user@host/path and https://host:8080/a:b@c and ssh://git@github.com").is_empty());
    assert!(kinds("https://user:${DB_PASSWORD}@host/").is_empty());
}

#[test]
fn high_entropy_values_of_secret_named_keys() {
    let value = "Zr8Kq2Vx9Lm4Tn7Wp3Ys";
    for line in [
        format!("DATABASE_PASSWORD={value}"),
        format!("db_password = \"{value}\""),
        format!("  \"clientSecret\": \"{value}\""),
        format!("MY_API_KEY: {value} (set)"),
        format!("GITHUB_PAT={value}"),
        format!("curl 'https://x/?access_token={value}&a=1'"),
        format!(r#"{{"summary": "set password=\"{value}\" in the file"}}"#),
        format!(r#""{{\"api_secret\": \"{value}\"}}""#),
    ] {
        one(&line, Kind::Assignment, value);
    }
    // Low entropy, code, a word that only contains `token`, a comparison, a name of a secret.
    for line in [
        "password = \"aaaabbbbaaaabbbb\"",
        "let token = self.token.clone();",
        "tokenizer = \"bert-base-uncased-2024\"",
        "if password == \"Zr8Kq2Vx9Lm4Tn7Wp3Ys\" {",
        "token_url = \"https://auth.example.org/oauth2/token\"",
        "password = \"Please enter your password\"",
        "api_key = \"${OPENAI_API_KEY}\"",
        "PATH=/usr/local/bin:/usr/bin:/bin9x8c7v6b5n4m",
    ] {
        assert!(kinds(line).is_empty(), "{line}: {:?}", kinds(line));
    }
}

#[test]
fn a_token_in_a_secret_named_assignment_is_named_as_the_token() {
    let token = format!("ghp_{}", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A");
    one(&format!("GITHUB_TOKEN={token}"), Kind::GithubToken, &token);
}

#[test]
fn several_in_one_text_in_order_and_none_in_plain_text() {
    let id = format!("AKIA{}", "Q3RZ7T2MXW4PLK9B");
    let text = format!("a {id}\nb postgres://u:pw12345@h/x\n{}", "x".repeat(100));
    let found = kinds(&text);
    assert_eq!(found, [(Kind::AwsAccessKeyId, id), (Kind::UrlPassword, "pw12345".to_owned())]);
    let prose = "Step 3 of 10: ran the tests at 10:30:15, key=value, a-b-c; see https://docs.rs/x.";
    assert!(kinds(prose).is_empty());
}

#[test]
fn pathological_inputs_stay_linear() {
    // Each of these would be quadratic for a detector that re-reads its candidate from every
    // start: 200 KB would take minutes then; it takes milliseconds (a debug build, a busy
    // machine: the bound is loose).
    for unit in ["sk-", "eyJa-", "xoxb-", "a=", "://", "-----BEGIN ", "glpat-", "password=\\\"x"] {
        let text = unit.repeat(200_000 / unit.len());
        let started = std::time::Instant::now();
        let _ = find(text.as_bytes());
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{unit}: {:?}", started.elapsed());
    }
}

#[test]
fn names_labels_and_entropy() {
    assert_eq!(Kind::GithubToken.slug(), "github-token");
    assert_eq!(Kind::GithubToken.label(), "GitHub token");
    for name in ["OPENAI_API_KEY", "GITHUB_TOKEN", "client_secret", "DB_PASSWORD", "GITHUB_PAT", "token"] {
        assert!(is_secret_name(name), "{name}");
    }
    for name in ["PATH", "HOME", "KEYBOARD", "TOKENIZER_PARALLELISM", "RALPH_STEP"] {
        assert!(!is_secret_name(name), "{name}");
    }
    assert!(shannon_entropy(b"aaaa") < 0.01);
    assert!((shannon_entropy(b"abcd") - 2.0).abs() < 1e-9);
}

#[test]
fn fields_of_secret_named_keys() {
    assert_eq!(assigned("db_password", "Zr8Kq2Vx9Lm4Tn7Wp3Ys"), Some(Kind::Assignment));
    assert_eq!(assigned("clientSecret", "Zr8Kq2Vx9Lm4Tn7Wp3Ys"), Some(Kind::Assignment));
    assert_eq!(
        assigned("aws_secret_access_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ9Bv8Rk2M"),
        Some(Kind::AwsSecretKey)
    );
    assert_eq!(assigned("summary", "Zr8Kq2Vx9Lm4Tn7Wp3Ys"), None);
    assert_eq!(assigned("token_url", "Zr8Kq2Vx9Lm4Tn7Wp3Ys"), None);
    assert_eq!(assigned("password", "changeme-please-123"), None);
    assert_eq!(assigned("password", "short"), None);
}
