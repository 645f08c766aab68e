# nbs, built from this repository's package-lock.json. importNpmLock fetches each locked package
# by the URL and hash already in the lock file, so there is no npmDepsHash to keep up to date.
{
  lib,
  stdenv,
  buildNpmPackage,
  importNpmLock,
  installShellFiles,
  nodejs,
  git,
  openssh,
}:

let
  packageJson = lib.importJSON ../package.json;
  locked = (lib.importJSON ../package-lock.json).packages;

  # importNpmLock needs each package's `resolved` URL, which npm leaves out of the lock when
  # `omit-lockfile-registry-resolved` is set: say so at evaluation, not as a failed fetch.
  unresolved = lib.filter (
    name: name != "" && !(locked.${name}.link or false) && !(locked.${name} ? resolved)
  ) (lib.attrNames locked);

  # Only what the build reads: tests, benchmarks, examples and fixtures stay out of the store path
  # (and a change to them does not rebuild nbs).
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../package.json
      ../package-lock.json
      ../LICENSE
      ../tsconfig.json
      ../src
      ../checks
      ../schemas
    ];
  };
in
lib.throwIf (unresolved != [ ])
  "nbs: package-lock.json has no `resolved` URL for ${lib.head unresolved} and ${toString (lib.length unresolved - 1)} more; regenerate it with: npm install --package-lock-only --omit-lockfile-registry-resolved=false"
  buildNpmPackage
  {
    pname = "nixos-build-status";
    inherit (packageJson) version;
    inherit src nodejs;

    npmDeps = importNpmLock { npmRoot = src; };
    npmConfigHook = importNpmLock.npmConfigHook;

    # `npm run build`: tsc, the JSON schemas, then the bundled CLI. The install step then keeps
    # only the files package.json publishes and prunes the devDependencies.
    npmBuildScript = "build";

    # For the bin wrapper the install step writes: git (flake revision and changes) and ssh
    # (checks of other hosts) are appended to PATH, so a system's own git or ssh still wins, and
    # nix, systemctl and journalctl are always the running system's, never a copy from this closure.
    makeWrapperArgs = [
      "--suffix"
      "PATH"
      ":"
      (lib.makeBinPath [
        git
        openssh
      ])
    ];

    # Completions where NixOS and Home Manager look (programs.bash.completion, zsh, fish), written
    # by the installed nbs itself; skipped when cross-compiling, where it cannot run.
    nativeBuildInputs = [ installShellFiles ];
    postInstall = lib.optionalString (stdenv.buildPlatform.canExecute stdenv.hostPlatform) ''
      installShellCompletion --cmd nbs \
        --bash <($out/bin/nbs completion bash) \
        --zsh <($out/bin/nbs completion zsh) \
        --fish <($out/bin/nbs completion fish)
    '';

    meta = {
      description = "Pre-deploy checks, recorded rebuilds and machine status for NixOS flakes";
      license = lib.licenses.mit;
      mainProgram = "nbs";
      platforms = lib.platforms.linux ++ lib.platforms.darwin;
    };
  }
