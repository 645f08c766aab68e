/**
 * The Nix side of the inventory: one constant expression, autocalled by `nix eval --expr … result
 * --argstr flake REF`, so the flake reference reaches Nix as data and is never spliced into code.
 *
 * It reads, in one evaluation and without building or instantiating anything:
 *  - the names of `nixosConfigurations` (the configurations themselves are never forced);
 *  - deploy-rs's `deploy` (top-level settings, and per node `hostname` plus the generic settings of
 *    the node and of its `system` profile), leaving each profile's `path` derivation untouched;
 *  - colmena's raw hive (`outputs.colmena`) as written: `deployment` values that are literals, in
 *    `defaults` and in each node's modules (attribute sets, and with `callFunctions` functions of
 *    named module arguments, called with stand-ins that throw when used: `name` is the node's name,
 *    `pkgs`, `lib`, `nodes`, `config`… are not there), following `imports` a few levels;
 *  - whether the flake has colmena's evaluated `colmenaHive`.
 *
 * `builtins.tryEval` only catches `throw` and `assert`: a value that fails otherwise (a missing
 * attribute of a real set, a type error) fails the whole evaluation. The reader is run again with
 * `callFunctions = false` when that happens, since calling a node's function with stand-ins is
 * where such failures come from (`args: args.inputs.x` has no stand-in for `inputs`).
 */

export const INVENTORY_EXPR = `{ flake, callFunctions ? true }:
let
  inherit (builtins) all attrNames concatMap deepSeq elem filter functionArgs getAttr hasAttr isAttrs
    isFunction isInt isList isPath isString length listToAttrs mapAttrs pathExists tryEval;
  outputs = (builtins.getFlake flake).outputs;

  # v fully evaluated when that neither throws nor fails an assert and ok accepts it, else null
  valid = ok: v: let r = tryEval (deepSeq v v); in if r.success && ok r.value then r.value else null;
  # v when it is an attribute set (evaluated to its top level only), else null
  setOrNull = v: let r = tryEval v; in if r.success && isAttrs r.value then r.value else null;
  get = s: k: if s != null && hasAttr k s then getAttr k s else null;
  isStrings = v: isList v && all isString v;
  str = valid isString;
  strs = valid isStrings;

  nixosSet = setOrNull (get outputs "nixosConfigurations");

  # deploy-rs: the generic settings (top level, node, profile); never a profile's path
  generic = s: { sshUser = str (get s "sshUser"); user = str (get s "user"); sshOpts = strs (get s "sshOpts"); sudo = str (get s "sudo"); };
  deploy = setOrNull (get outputs "deploy");
  deployRs = if deploy == null then null else {
    top = generic deploy;
    nodes = let ns = setOrNull (get deploy "nodes"); in if ns == null then { } else mapAttrs (name: n0:
      let n = setOrNull n0; in if n == null then null else generic n // {
        hostname = str (get n "hostname");
        system = generic (setOrNull (get (setOrNull (get n "profiles")) "system"));
      }) ns;
  };

  # colmena: the deployment options nbs reads, with the type colmena gives each
  fields = {
    targetHost = v: v == null || isString v;
    targetUser = v: v == null || isString v;
    targetPort = v: v == null || isInt v;
    tags = isStrings;
    sshOptions = isStrings;
    privilegeEscalationCommand = isStrings;
  };
  # one definition as the module system ranks it (mkDefault/mkForce are "override"s), or unread
  definition = ok: v:
    let
      r = tryEval v;
      typed = r.success && isAttrs r.value && hasAttr "_type" r.value;
      override = typed && r.value._type == "override";
      content = if override then r.value.content else r.value;
      prio = if override then valid isInt (r.value.priority or null) else 100;
      c = tryEval (deepSeq content content);
    in
      if !r.success || (typed && !override) || prio == null || !c.success || !(ok c.value) then { unread = true; }
      else { inherit prio; value = c.value; };
  # modulesPath stands for nixpkgs's modules folder: what is imported from there cannot set colmena's
  # deployment options, so such an import is skipped rather than unread
  nixpkgsModules = "/nbs-stand-in-for-modulesPath";
  fromNixpkgs = v: isString v && builtins.substring 0 (builtins.stringLength nixpkgsModules) v == nixpkgsModules;
  stub = name: arg:
    if arg == "name" then name
    else if arg == "modulesPath" then nixpkgsModules
    else throw ("nbs: the module argument " + arg + " needs colmena's evaluation");
  # an imported file: a .nix file, or a folder's default.nix; anything else is not read
  importable = v: let s = toString v; in builtins.substring 0 1 s == "/"
    && ((builtins.match ".*[.]nix" s != null && pathExists s) || pathExists (s + "/default.nix"));
  # a module as written: { deployment, imports } when readable, else { unread = true; }
  readModule = name: m0:
    let
      r = tryEval m0;
      imported = let ok = tryEval (importable r.value); i = tryEval (import r.value); in if ok.success && ok.value && i.success then i.value else null;
      m = if !r.success then null
        else if fromNixpkgs r.value then { }
        else if isPath r.value || isString r.value then imported
        else r.value;
      called = if isFunction m then
          (let fa = functionArgs m; in if callFunctions && fa != { } then setOrNull (m (mapAttrs (a: _: stub name a) fa)) else null)
        else setOrNull m;
      # mkIf/mkMerge (_type) and functors (__functor) are not modules as written: not read
      set = if called == null || hasAttr "_type" called || hasAttr "__functor" called then null else called;
      dep =
        let
          cfg = setOrNull (get set "config");
          d = if hasAttr "deployment" set then tryEval set.deployment
            else if cfg != null && hasAttr "deployment" cfg then tryEval cfg.deployment
            else { success = true; value = { }; };
        in if d.success && isAttrs d.value && !(hasAttr "_type" d.value) then d.value else null;
      imports = let i = tryEval (get set "imports"); in if !i.success then null else if i.value == null then [ ] else if isList i.value then i.value else null;
    in
      if set == null || dep == null || imports == null then { unread = true; } else { deployment = dep; inherit imports; };
  modulesOf = depth: name: m:
    let rm = readModule name m; in
    if rm ? unread then [ rm ]
    else [ rm ] ++ (if rm.imports == [ ] then [ ] else if depth == 0 then [ { unread = true; } ] else concatMap (modulesOf (depth - 1) name) rm.imports);
  readNode = hive: name:
    let
      node = getAttr name hive;
      mods = concatMap (modulesOf 3 name) ((if hasAttr "defaults" hive then [ hive.defaults ] else [ ]) ++ (if isList node then node else [ node ]));
      readable = filter (m: !(m ? unread)) mods;
    in {
      unreadModules = length mods - length readable;
      defs = mapAttrs (f: ok: concatMap (m: if hasAttr f m.deployment then [ (definition ok (getAttr f m.deployment)) ] else [ ]) readable) fields;
    };
  colmenaOut = get outputs "colmena";
  colmena =
    if colmenaOut == null then null
    else let hive = setOrNull colmenaOut; in
      if hive == null then { error = "outputs.colmena is not an attribute set as written"; }
      else { nodes = listToAttrs (map (name: { inherit name; value = readNode hive name; }) (filter (n: !(elem n [ "meta" "network" "defaults" ])) (attrNames hive))); };
in {
  result = {
    nixosConfigurations = if nixosSet == null then null else attrNames nixosSet;
    hasNixosConfigurations = hasAttr "nixosConfigurations" outputs;
    inherit deployRs colmena;
    colmenaHive = hasAttr "colmenaHive" outputs;
  };
}`

/** What the expression prints (JSON). */
export interface InventoryEvalOutput {
  /** names, null when absent or not an attribute set */
  nixosConfigurations: string[] | null
  hasNixosConfigurations: boolean
  deployRs: DeployRsOutput | null
  colmena: { nodes: Record<string, LiteralColmenaNode> } | { error: string } | null
  colmenaHive: boolean
}

export interface DeployRsGeneric {
  sshUser: string | null
  user: string | null
  sshOpts: string[] | null
  sudo: string | null
}

export interface DeployRsOutput {
  top: DeployRsGeneric
  nodes: Record<string, (DeployRsGeneric & { hostname: string | null; system: DeployRsGeneric }) | null>
}

/** One definition of a deployment option: its module-system priority and value, or unread. */
export type LiteralDefinition = { prio: number; value: unknown } | { unread: true }

export interface LiteralColmenaNode {
  /** modules (the node's, `defaults`, their imports) nbs could not read without colmena */
  unreadModules: number
  defs: Record<ColmenaField, LiteralDefinition[]>
}

export const COLMENA_FIELDS = ['targetHost', 'targetUser', 'targetPort', 'tags', 'sshOptions', 'privilegeEscalationCommand'] as const
export type ColmenaField = (typeof COLMENA_FIELDS)[number]

/**
 * For `colmena eval -E` and colmenaHive: the same fields from colmena's evaluated
 * `config.deployment` of every node (`or` for colmena versions without sshOptions).
 */
export const COLMENA_EVAL_EXPR = `{ nodes, ... }: builtins.mapAttrs (name: node: let d = node.config.deployment; in {
  targetHost = d.targetHost or name; targetUser = d.targetUser or null; targetPort = d.targetPort or null;
  tags = d.tags or [ ]; sshOptions = d.sshOptions or [ ]; privilegeEscalationCommand = d.privilegeEscalationCommand or [ ];
}) nodes`

/** `nix eval --apply` on `<flake>#colmenaHive`: its exported `deploymentConfig`, the same fields. */
export const COLMENA_HIVE_APPLY = `hive: builtins.mapAttrs (name: d: {
  targetHost = d.targetHost or name; targetUser = d.targetUser or null; targetPort = d.targetPort or null;
  tags = d.tags or [ ]; sshOptions = d.sshOptions or [ ]; privilegeEscalationCommand = d.privilegeEscalationCommand or [ ];
}) hive.deploymentConfig`
