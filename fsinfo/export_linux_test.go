package fsinfo

// BootSectorKind exposes bootSectorKind to the external tests.
var BootSectorKind = bootSectorKind
