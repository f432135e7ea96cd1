@_exported import BootDeploySystem
