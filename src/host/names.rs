//! Names checked the same way wherever they come from: role ARNs (the registry config, pod
//! annotations, the environment).

/// `arn:<partition>:iam::<account>:role/<path and name>`: the one rule for role ARNs, from
/// the registry config, annotations and the environment alike.
pub(crate) fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return false;
    };
    let name = resource.strip_prefix("role/").unwrap_or_default();
    *prefix == "arn"
        && !partition.is_empty()
        && partition
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-')
        && *service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && arn.len() <= 2048
        && !name.is_empty()
        && !name.ends_with('/')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        for arn in [
            "arn:aws:iam::123456789012:role/puller",
            "arn:aws-cn:iam::123456789012:role/path/to/puller",
            "arn:aws-us-gov:iam::123456789012:role/a+b=c,d.e@f_g-h",
        ] {
            assert!(is_role_arn(arn), "{arn}");
        }
        for arn in [
            "",
            "puller",
            "arn:aws:iam::123456789012:user/puller",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam:us-east-1:123456789012:role/x",
            "arn:aws:sts::123456789012:role/x",
            "arn:aws:iam::12345678901:role/x",
            "arn:aws:iam::1:role/x",
            "arn:aws:iam::123456789012:role/x y",
            "arn:AWS:iam::123456789012:role/x",
        ] {
            assert!(!is_role_arn(arn), "{arn}");
        }
    }
}
