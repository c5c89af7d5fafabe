# Homebrew formula for ecr-login, built from the source tarball of a release tag.
#
# Release steps: point `url` at the tag's tarball on the project's forge (replace OWNER) and set
# `sha256` to `shasum -a 256` of that tarball. The tarball is made by `git archive`, which writes
# the commit into packaging/commit, so `--version` names it without .git.
class EcrLogin < Formula
  desc "Amazon ECR credential helper for Docker, podman, Helm and the kubelet"
  homepage "https://github.com/OWNER/ecr-login"
  url "https://github.com/OWNER/ecr-login/archive/refs/tags/v0.1.0.tar.gz"
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  license any_of: ["MIT", "Apache-2.0"]
  head "https://github.com/OWNER/ecr-login.git", branch: "main"

  depends_on "rust" => :build

  conflicts_with "docker-credential-helper-ecr", because: "both install `docker-credential-ecr-login`"

  def install
    # `cargo install --path .` reads the project's .cargo/config.toml, which makes the x86_64 Linux
    # binary static-pie; that links glibc's libc.a. Where there is none (Fedora without
    # glibc-static), build a dynamic binary: a set RUSTFLAGS, even empty, replaces those flags.
    if OS.linux? && Hardware::CPU.intel?
      libc_a = Utils.safe_popen_read(ENV.cc, "-print-file-name=libc.a").chomp
      ENV["RUSTFLAGS"] = "" unless libc_a.start_with?("/")
    end
    system "cargo", "install", *std_cargo_args
    (man1/"docker-credential-ecr-login.1").write Utils.safe_popen_read(bin/"docker-credential-ecr-login", "man")
    pkgshare.install "packaging/kubelet/credential-provider-config.yaml"
  end

  test do
    assert_match(/ \d+\.\d+\.\d+ \(commit \w+\)/, shell_output("#{bin}/docker-credential-ecr-login version"))
    # A host that is not ECR gets the protocol's "not found" answer, without touching AWS.
    output = pipe_output("#{bin}/docker-credential-ecr-login get", "registry.example.com", 1)
    assert_match "credentials not found in native keychain", output
  end
end
