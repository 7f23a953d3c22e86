; Inspector: per-user Windows installer (Inno Setup 6). No administrator rights needed.
;
; Normally built by `python packaging\build.py --installer`, which freezes the app, smoke-tests it
; and calls ISCC with the version from pyproject.toml. By hand, after a build:
;   iscc /DAppVersion=0.1.0 /DBundleDir=C:\src\inspector\dist\inspector-0.1.0-windows-x64 packaging\windows\inspector.iss
; Installs into %LOCALAPPDATA%\Programs\Inspector, adds a Start-menu entry (and optionally a
; desktop icon) and an uninstaller (Settings > Apps, or unins000.exe). Silent install for IT:
;   inspector-<version>-windows-x64-setup.exe /VERYSILENT /CURRENTUSER

#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=x.y.z ... (packaging\build.py reads it from pyproject.toml)
#endif
#ifndef RepoDir
  #define RepoDir AddBackslash(SourcePath) + "..\.."
#endif
#ifndef BundleDir
  #define BundleDir RepoDir + "\dist\inspector-" + AppVersion + "-windows-x64"
#endif
#ifndef OutputDir
  #define OutputDir RepoDir + "\dist"
#endif
#ifndef OutputName
  #define OutputName "inspector-" + AppVersion + "-windows-x64-setup"
#endif

[Setup]
AppId={{6F1C2B1E-4A3D-4E0B-9C55-2B7A1E9D0F42}
AppName=Inspector
AppVersion={#AppVersion}
AppVerName=Inspector {#AppVersion}
AppPublisher=Inspector project
DefaultDirName={autopf}\Inspector
DefaultGroupName=Inspector
DisableProgramGroupPage=yes
; Per-user install by default ({autopf} = %LOCALAPPDATA%\Programs); /ALLUSERS is refused unless elevated.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=commandline dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename={#OutputName}
SetupIconFile={#RepoDir}\resources\icons\inspector.ico
UninstallDisplayIcon={app}\Inspector.exe
UninstallDisplayName=Inspector {#AppVersion}
; The bundle is large (torch): fast LZMA2, non-solid, so setup starts quickly.
Compression=lzma2/fast
SolidCompression=no
WizardStyle=modern
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\Inspector"; Filename: "{app}\Inspector.exe"; Comment: "Inspector {#AppVersion}: visual inspection"
Name: "{autodesktop}\Inspector"; Filename: "{app}\Inspector.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\Inspector.exe"; Description: "{cm:LaunchProgram,Inspector}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Python may leave bytecode caches next to the bundle; user projects and settings are never touched.
Type: filesandordirs; Name: "{app}\_internal\__pycache__"
Type: dirifempty; Name: "{app}"
