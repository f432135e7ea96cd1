import BootDeploy
