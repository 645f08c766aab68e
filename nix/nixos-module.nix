# NixOS module for nbs: `programs.nbs` installs it (default flake, machine config, build-record
# folders) and `services.nbs.check` checks the machine on a timer, modelled on nixpkgs'
# `programs.nh` and its `nh-clean` timer.
{
  config,
  lib,
  pkgs,
  utils,
  ...
}:

let
  cfg = config.programs.nbs;
  checkCfg = config.services.nbs.check;
  json = pkgs.formats.json { };
  nodeExporter = config.services.prometheus.exporters.node;

  # nbs's own default (src/records/paths.ts): the folder needs no variable when it is this one
  defaultLogDir = "/var/log/nixos-builds";
  # the admins' group of the records, as nbs reads it from the config (src/records/groups.ts): the
  # folder tmpfiles creates (and resets at every boot and switch) must carry that group, or its
  # members are refused it and nbs's own fix (chgrp) is undone by the next switch
  logGroup = if builtins.isAttrs cfg.settings then cfg.settings.logGroup or "wheel" else "wheel";
  configFile = "/etc/nbs/nbs.config.json";

  # The nbs on PATH is wrapped to know another logDir and the default flake, so `sudo nbs build os`
  # (sudo drops the caller's environment, NBS_FLAKE included) still builds the configured flake,
  # not whatever /etc/nixos holds, and writes where the machine keeps its records. --set-default: a
  # variable the caller does pass still wins.
  wrapperArgs =
    lib.optionals (cfg.logDir != defaultLogDir) [
      "--set-default"
      "NBS_LOG_DIR"
      cfg.logDir
    ]
    ++ lib.optionals (cfg.flake != null) [
      "--set-default"
      "NBS_FLAKE"
      cfg.flake
    ];
  finalPackage =
    if wrapperArgs == [ ] then
      cfg.package
    else
      pkgs.symlinkJoin {
        name = "nbs-${cfg.package.version or "wrapped"}";
        paths = [ cfg.package ];
        nativeBuildInputs = [ pkgs.makeWrapper ];
        postBuild = "wrapProgram $out/bin/nbs ${lib.escapeShellArgs wrapperArgs}";
        meta.mainProgram = "nbs";
      };

  # The flake the service checks, as nbs picks it: programs.nbs.flake (NBS_FLAKE) only when the
  # config names none, else nbs's own default /etc/nixos.
  settingsFlake = if builtins.isAttrs cfg.settings then cfg.settings.flake or null else null;
  serviceFlake =
    if settingsFlake != null then
      settingsFlake
    else if cfg.flake != null then
      cfg.flake
    else
      "/etc/nixos";
  # That flake as a local folder (`/srv/flake`, `path:…`, `git+file://…`), else null (`github:…`,
  # or a path relative to /etc/nbs).
  flakeDir =
    let
      m = builtins.match "(path:|git\\+file://)?(/[^?#]*).*" serviceFlake;
    in
    if m == null then null else lib.elemAt m 1;

  prometheusFile = "${checkCfg.prometheus.directory}/nbs.prom";
  checkArgs = import ./check-command.nix {
    inherit configFile;
    inherit (checkCfg) reportDir extraArgs;
    prometheusFile = if checkCfg.prometheus.enable then prometheusFile else null;
  };

  # Exit 1 (checks failed) is a success for systemd (SuccessExitStatus), so OnFailure= does not see
  # it: this ExecStopPost starts the onFailure units for it instead. The units come as arguments on
  # the ExecStopPost line, where systemd expands specifiers as it does in OnFailure= (the usual
  # `notify@%n.service`); inside the script `%n` would stay literal and name no unit.
  startOnFailure = pkgs.writeShellScript "nbs-check-on-failure" ''
    if [ "$SERVICE_RESULT" = success ] && [ "$EXIT_CODE" = exited ] && [ "$EXIT_STATUS" = 1 ]; then
      exec ${config.systemd.package}/bin/systemctl start --no-block -- "$@"
    fi
  '';
  # quoted for an Exec line like utils.escapeSystemdExecArg, but with `%` left to systemd
  unitArg = unit: builtins.replaceStrings [ "$" ] [ "$$" ] (builtins.toJSON unit);
in
{
  options.programs.nbs = {
    enable = lib.mkEnableOption "nbs, pre-deploy checks, recorded rebuilds and machine status for NixOS flakes";

    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = lib.literalMD "nbs from this flake, built with the system's nixpkgs";
      description = "The nbs package to install and to run the check service with.";
    };

    flake = lib.mkOption {
      type = lib.types.nullOr lib.types.singleLineStr;
      default = null;
      example = "/etc/nixos";
      description = ''
        The default flake of `nbs check`, `nbs status` and `nbs build os`, set as the `NBS_FLAKE`
        environment variable (as `programs.nh.flake` sets `NH_FLAKE`) and as that variable's
        default in a wrapper around the installed `nbs`, since sudo drops it. A `--flake` flag or a
        config's `flake` come first; of the environment variables nh's `NH_OS_FLAKE` comes before
        `NBS_FLAKE`, and `NH_FLAKE` after it. Also the flake the check service checks.
      '';
    };

    settings = lib.mkOption {
      inherit (json) type;
      default = { };
      example = lib.literalExpression ''
        {
          enable = [ "build" ];
          reporters = [ "pretty" ];
          timeout = "10m";
        }
      '';
      description = ''
        The machine's nbs config, written to {file}`/etc/nbs/nbs.config.json` (see nbs's
        `schemas/config.schema.json`). nbs uses it when the working directory has no
        `nbs.config.*` and the user has none in {file}`$XDG_CONFIG_HOME/nbs`; configs are never
        merged. Relative paths in it are relative to {file}`/etc/nbs`.
      '';
    };

    logDir = lib.mkOption {
      type = lib.types.path;
      default = defaultLogDir;
      example = "/persist/var/log/nixos-builds";
      description = ''
        Folder of the system's build records, created group-writable and setgid for `wheel`
        (2775 root:wheel), or for the group `settings.logGroup` names. Any other folder (a persisted one, for impermanence) is passed to nbs as
        `NBS_LOG_DIR` by a wrapper around the installed `nbs`.
      '';
    };
  };

  options.services.nbs.check = {
    enable = lib.mkEnableOption "a timer that runs `nbs check` on this machine and keeps its reports";

    dates = lib.mkOption {
      type = lib.types.singleLineStr;
      default = "hourly";
      example = "*-*-* 04:00:00";
      description = "When the check runs, as a systemd calendar event ({manpage}`systemd.time(7)`). Missed runs are made up at boot (`Persistent=`).";
    };

    randomizedDelay = lib.mkOption {
      type = lib.types.singleLineStr;
      default = "0";
      example = "15min";
      description = "Random delay added to each run (`RandomizedDelaySec=`), so a fleet does not check all at once.";
    };

    extraArgs = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      example = [
        "--skip"
        "build"
      ];
      description = "Arguments added to `nbs check`, one per element (no shell splitting).";
    };

    reportDir = lib.mkOption {
      type = lib.types.path;
      default = "/var/lib/nbs";
      description = "Folder of the last run's reports: {file}`junit.xml`, {file}`report.json`, {file}`report.tap`.";
    };

    prometheus = {
      enable = lib.mkEnableOption "the Prometheus textfile {file}`nbs.prom` for node_exporter's textfile collector";

      directory = lib.mkOption {
        type = lib.types.path;
        default = "/var/lib/prometheus-node-exporter-text-files";
        description = ''
          node_exporter's textfile directory. When `services.prometheus.exporters.node` is enabled
          it is added to that exporter (`--collector.textfile.directory`); if you already pass a
          textfile directory there, set this option to it instead of adding a second one.
        '';
      };
    };

    onFailure = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      example = [ "notify-admins.service" ];
      description = ''
        Units started when a run fails: when checks fail (exit 1, which does not fail the unit) and
        when nbs itself cannot run (exit 3 or 70, a timeout or a crash: the unit fails, `OnFailure=`).
        Specifiers such as `%n` are expanded in both cases (`notify@%n.service`).
      '';
    };
  };

  config = lib.mkMerge [
    (lib.mkIf cfg.enable {
      assertions = [
        {
          assertion = cfg.flake != null -> !(lib.hasSuffix ".nix" cfg.flake);
          message = "programs.nbs.flake must name a flake (a folder or flake reference), not a .nix file";
        }
        {
          assertion = !(builtins.isAttrs cfg.settings && cfg.settings ? logDir) || cfg.settings.logDir == cfg.logDir;
          message = "programs.nbs.settings.logDir differs from programs.nbs.logDir, the folder the module creates for the records: set programs.nbs.logDir instead";
        }
      ];

      environment.systemPackages = [ finalPackage ];
      environment.variables = lib.mkIf (cfg.flake != null) { NBS_FLAKE = cfg.flake; };
      environment.etc."nbs/nbs.config.json".source = json.generate "nbs.config.json" cfg.settings;

      # What src/records expects: the records folder (and its builds/) 2775 root:GROUP, so admins
      # write records without root and each new file gets the group; the lock folder sticky and
      # world-writable like /run/lock, so any user can take over a dead build's lock.
      systemd.tmpfiles.rules = [
        "d ${cfg.logDir} 2775 root ${logGroup} -"
        "d ${cfg.logDir}/builds 2775 root ${logGroup} -"
        "d /run/lock/nbs 1777 root root -"
      ];
    })

    (lib.mkIf checkCfg.enable {
      assertions = [
        {
          assertion = cfg.enable;
          message = "services.nbs.check.enable requires programs.nbs.enable";
        }
      ];

      systemd.tmpfiles.rules = [
        "d ${checkCfg.reportDir} 0755 root root -"
      ]
      ++ lib.optional checkCfg.prometheus.enable "d ${checkCfg.prometheus.directory} 0755 root root -";

      services.prometheus.exporters.node = lib.mkIf (checkCfg.prometheus.enable && nodeExporter.enable) {
        enabledCollectors = [ "textfile" ];
        extraFlags = [ "--collector.textfile.directory=${checkCfg.prometheus.directory}" ];
      };

      systemd.services.nbs-check = {
        description = "nbs check: checks of this machine and its flake";
        wants = [ "network-online.target" ];
        after = [
          "network-online.target"
          "nix-daemon.socket"
        ];
        # systemctl and journalctl come with every service's PATH; nix is the system's
        path = [ config.nix.package ];
        environment = {
          # through the daemon: the store is read-only here (ProtectSystem=strict)
          NIX_REMOTE = "daemon";
          # nix's fetcher and eval caches, nbs's eval cache
          XDG_CACHE_HOME = "/var/cache/nbs";
          NO_COLOR = "1";
        }
        // lib.optionalAttrs (cfg.flake != null) { NBS_FLAKE = cfg.flake; }
        // lib.optionalAttrs (flakeDir != null) {
          # root reading a flake another user owns: git refuses it without safe.directory
          GIT_CONFIG_COUNT = "1";
          GIT_CONFIG_KEY_0 = "safe.directory";
          GIT_CONFIG_VALUE_0 = flakeDir;
        };
        # nbs could not run (exit 3 or 70, timeout, crash): the unit failed
        onFailure = checkCfg.onFailure;
        serviceConfig = {
          Type = "oneshot";
          ExecStart = utils.escapeSystemdExecArgs ([ (lib.getExe finalPackage) ] ++ checkArgs);
          # exit 1: checks failed, reported by the files and onFailure, not by a failed unit
          # (failed-units would report nbs's own service). 3 (bad config) and 70 (bug) still fail.
          SuccessExitStatus = "1";
          ExecStopPost = lib.mkIf (checkCfg.onFailure != [ ]) [
            "${startOnFailure} ${lib.concatMapStringsSep " " unitArg checkCfg.onFailure}"
          ];
          WorkingDirectory = checkCfg.reportDir;
          CacheDirectory = "nbs";
          UMask = "0022";

          # read-only system; writable: the reports, the textfile, the cache
          ProtectSystem = "strict";
          ReadWritePaths = [ checkCfg.reportDir ] ++ lib.optional checkCfg.prometheus.enable checkCfg.prometheus.directory;
          # read-only, never hidden: the flake may be under /home without its name saying so
          # (/etc/nixos a symlink to ~/nixos-config, the usual layout), which no evaluation can see
          ProtectHome = "read-only";
          PrivateTmp = true;
          PrivateDevices = true;
          NoNewPrivileges = true;
          ProtectKernelTunables = true;
          ProtectKernelModules = true;
          ProtectKernelLogs = true;
          ProtectControlGroups = true;
          ProtectClock = true;
          ProtectHostname = true;
          RestrictNamespaces = true;
          RestrictRealtime = true;
          RestrictSUIDSGID = true;
          LockPersonality = true;
          SystemCallArchitectures = "native";
          # the nix daemon and systemd (AF_UNIX), flake inputs and ssh to other hosts (AF_INET*)
          RestrictAddressFamilies = [
            "AF_UNIX"
            "AF_INET"
            "AF_INET6"
          ];
          # no MemoryDenyWriteExecute: Node's JIT needs writable executable memory
          Nice = 10;
          IOSchedulingClass = "idle";
        };
      };

      systemd.timers.nbs-check = {
        description = "Run nbs check on this machine";
        wantedBy = [ "timers.target" ];
        timerConfig = {
          OnCalendar = checkCfg.dates;
          Persistent = true;
          RandomizedDelaySec = checkCfg.randomizedDelay;
        };
      };
    })
  ];
}
