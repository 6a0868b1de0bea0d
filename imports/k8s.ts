// Kubernetes 1.28 L1 classes, produced offline: cdk8s-plus-28 ships the output of
// `cdk8s import k8s@1.28` as `lib/imports/k8s`, so this project re-exports it rather
// than downloading the schema (which `cdk8s import` would need the internet for).
export * from 'cdk8s-plus-28/lib/imports/k8s';
